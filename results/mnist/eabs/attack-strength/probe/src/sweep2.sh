#!/bin/bash
run() { lab=$1; shift; for s in 1 2 3 4; do ./ev4 attack -label "$lab" -seed $s "$@"; done; }
run target6 -img fmnist-7668 -target 6
run target4 -img mnist-4280 -target 4
run zero -img fmnist-7668,mnist-4280 -zero-start
run ce -ce
run suite3 -retries 3
