"""On-disk formats that several stages read: frames (extract's), shots (filter's), dataset (build-dataset's
and synth's). A format module never runs a stage."""
