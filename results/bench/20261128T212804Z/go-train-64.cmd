env EABS_BENCH_STEPS=50 results/bench/20261128T212804Z/train.test -test.run ^$ -test.bench ^BenchmarkTrainStepMNIST64$ -test.benchtime 10x
