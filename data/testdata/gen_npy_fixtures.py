#!/usr/bin/python3
"""Write small .npy and .npz fixtures with numpy itself (numpy.save, numpy.savez,
numpy.savez_compressed, numpy.lib.format.write_array), so the Go reader is tested on
files it did not write, with pixels from formulas the Go test recomputes.

Regenerate from the repository root with Debian's python3-numpy (1.24.2 here):

    /usr/bin/python3 data/testdata/gen_npy_fixtures.py data/testdata/npy

Formulas (must match data/npy_test.go):
    U8[n, h, w, c] = (37*n + 11*h + 5*w + 3*c) % 256        uint8, NHWC (4, 5, 6, 3)
    F[n, c, h, w]  = ((7*n + 5*c + 3*h + w) % 17) / 16       float32 NCHW (3, 1, 4, 5);
                                                             float64 (N, H, W) (2, 3, 4) without c
    labels[n]      = (3*n + 1) % 4

Files:
    u8_nhwc.npy       U8 (version 1.0)
    f4_nchw.npy       F as float32, NCHW
    f8_nhw.npy        F as float64, (N, H, W)
    labels_i8.npy     labels of 4 images, int64, shape (4,)
    labels_u1_col.npy labels of 3 images, uint8, shape (3, 1)
    v2.npy, v3.npy    U8 written as format versions 2.0 and 3.0
    fortran.npy       F (float32) in Fortran order (refused)
    bigendian.npy     F as >f4 (refused)
    float16.npy       F as float16 (refused: unsupported dtype)
    structured.npy    a record array (refused)
    keras.npz         x_train = U8[:, :, :, :1] of 4 images, y_train = labels (uint8),
                      x_test = the same of 2 images, y_test = labels[:2], class_names
                      = ["zero", "one", "two", "three"] (<U5) (numpy.savez)
    compressed.npz    x = F float32 NCHW, y = labels[:3] int32 (numpy.savez_compressed)
    nan.npz           x = F float32 with x[1, 0, 2, 3] = NaN, y = labels[:3]
"""
import os
import sys

import numpy as np


def u8(n=4):
    n_, h, w, c = np.meshgrid(np.arange(n), np.arange(5), np.arange(6), np.arange(3), indexing="ij")
    return ((37 * n_ + 11 * h + 5 * w + 3 * c) % 256).astype(np.uint8)


def f(dtype, channels=True):
    n, c, h, w = np.meshgrid(np.arange(3), np.arange(1), np.arange(4), np.arange(5), indexing="ij")
    x = (((7 * n + 5 * c + 3 * h + w) % 17) / 16).astype(dtype)
    return x if channels else x[:2, 0, :3, :4]


def labels(n):
    return (3 * np.arange(n) + 1) % 4


def write_version(path, a, version):
    with open(path, "wb") as fh:
        np.lib.format.write_array(fh, a, version=version)


def main(out):
    os.makedirs(out, exist_ok=True)
    p = lambda name: os.path.join(out, name)
    np.save(p("u8_nhwc.npy"), u8())
    np.save(p("f4_nchw.npy"), f(np.float32))
    np.save(p("f8_nhw.npy"), f(np.float64, channels=False))
    np.save(p("labels_i8.npy"), labels(4).astype(np.int64))
    np.save(p("labels_u1_col.npy"), labels(3).astype(np.uint8).reshape(3, 1))
    write_version(p("v2.npy"), u8(), (2, 0))
    write_version(p("v3.npy"), u8(), (3, 0))
    np.save(p("fortran.npy"), np.asfortranarray(f(np.float32)))
    np.save(p("bigendian.npy"), f(np.float32).astype(">f4"))
    np.save(p("float16.npy"), f(np.float16))
    np.save(p("structured.npy"), np.zeros(2, dtype=[("a", "<i4"), ("b", "<f8")]))
    x = u8()[:, :, :, :1]
    np.savez(p("keras.npz"), x_train=x, y_train=labels(4).astype(np.uint8), x_test=x[:2],
             y_test=labels(2).astype(np.uint8), class_names=np.array(["zero", "one", "two", "three"]))
    np.savez_compressed(p("compressed.npz"), x=f(np.float32), y=labels(3).astype(np.int32))
    bad = f(np.float32)
    bad[1, 0, 2, 3] = np.nan
    np.savez(p("nan.npz"), x=bad, y=labels(3))
    for name in sorted(os.listdir(out)):
        print(name, os.path.getsize(p(name)))


if __name__ == "__main__":
    main(sys.argv[1])
