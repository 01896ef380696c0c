env EABS_BENCH_STEPS=50 results/bench/20261129T045230Z/train.test -test.run ^$ -test.bench ^BenchmarkTrainStepMNIST64$ -test.benchtime 10x
