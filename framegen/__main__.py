"""`python -m framegen` (and so `torchrun -m framegen train ...`)."""

from framegen.cli import main

if __name__ == "__main__":
    main()
