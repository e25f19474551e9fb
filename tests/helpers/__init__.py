"""What several test files share, grouped by what it is (tests import these, never each other or conftest):

    paths      the repository and the shared sample data
    media      synthetic frames, and the videos, images and broken movies made from them
    datasets   tiny window datasets and a tiny model's train.toml
    models     tiny exports, random RIFE weights installed in the published layout, a pickle that runs code
    cli        the inputs of every stage, and checks of what a failed command printed and left behind
    processes  framegen in a child process, and its children read from /proc
    rife_golden  the recipe of the golden RIFE test (shared with bench/make_rife_golden.py)
"""
