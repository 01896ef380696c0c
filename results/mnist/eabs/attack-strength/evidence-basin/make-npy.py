# Writes the clean test images of the evidence as one-image .npy datasets for
# `eabs attack --dataset npy:X#y=Y,classes=10`. Input: /tmp/ev/clean-NAME.f32, 784 float32 LE
# written by the probe (`ev dump`, probe-basin/src/dump.go) from the MNIST and Fashion-MNIST test sets.
import struct

def npy(path, dtype, shape, data):
    hdr = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (dtype, str(shape))
    pad = (64 - (10 + len(hdr) + 1) % 64) % 64
    hdr = hdr + ' ' * pad + '\n'
    with open(path, 'wb') as f:
        f.write(b'\x93NUMPY\x01\x00' + struct.pack('<H', len(hdr)) + hdr.encode() + data)

for name, label in [('mnist-4280', 9), ('fmnist-8158', 8), ('fmnist-7668', 3)]:
    raw = open('/tmp/ev/clean-%s.f32' % name, 'rb').read()
    npy('/tmp/ev/%s-x.npy' % name, '<f4', (1, 28, 28), raw)
    npy('/tmp/ev/%s-y.npy' % name, '<i8', (1,), struct.pack('<q', label))
