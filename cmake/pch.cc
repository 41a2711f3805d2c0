// Translation unit that owns Loom's precompiled LibTorch header.
