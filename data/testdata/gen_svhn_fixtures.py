#!/usr/bin/python3
"""Write small SVHN-format fixtures: MATLAB v5 MAT-files exactly like the official
train_32x32.mat / test_32x32.mat (X uint8 32x32x3xN, y double Nx1, label 10 = digit 0),
with pixels from a formula so the Go test can check every decoded value.

Regenerate from the repository root with Debian's python3-scipy (1.10.1 here):

    /usr/bin/python3 data/testdata/gen_svhn_fixtures.py data/testdata/svhn

Formula (must match data/svhn_test.go):
    X[i, j, c, n] = (7*i + 13*j + 29*c + 31*n + 5) % 256   (i row, j column, c channel, n image)
    y[n]          = n % 10 + 1                              (so n = 9 has label 10, the digit 0)

train_32x32.mat: 12 images, do_compression=True (miCOMPRESSED elements, as MATLAB -v7 writes).
test_32x32.mat:   3 images, uncompressed (plain miMATRIX elements).
The 116-byte header text (scipy puts the creation time there) is overwritten with a
fixed text so the files are byte-for-byte reproducible.
"""
import os
import sys

import numpy as np
import scipy.io


def make(n):
    i, j, c, k = np.meshgrid(np.arange(32), np.arange(32), np.arange(3), np.arange(n), indexing="ij")
    X = ((7 * i + 13 * j + 29 * c + 31 * k + 5) % 256).astype(np.uint8)
    y = (np.arange(n) % 10 + 1).astype(np.float64).reshape(n, 1)
    return X, y


def write(path, n, compress):
    X, y = make(n)
    scipy.io.savemat(path, {"X": X, "y": y}, do_compression=compress, format="5")
    with open(path, "r+b") as f:
        f.write(b"MATLAB 5.0 MAT-file, eabs SVHN test fixture".ljust(116, b" "))
    back = scipy.io.loadmat(path)
    assert back["X"].dtype == np.uint8 and back["X"].shape == (32, 32, 3, n)
    assert (back["X"] == X).all() and (back["y"] == y).all()


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "data/testdata/svhn"
    os.makedirs(out, exist_ok=True)
    write(os.path.join(out, "train_32x32.mat"), 12, True)
    write(os.path.join(out, "test_32x32.mat"), 3, False)


if __name__ == "__main__":
    main()
