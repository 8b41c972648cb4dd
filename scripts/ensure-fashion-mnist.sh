#!/bin/sh
# Installs Fashion-MNIST (Debian's dataset-fashion-mnist, MIT licence: its idx
# files land in /usr/share/datasets/fashion-mnist), which `gedge model train`,
# the training test and the split-inference benchmark read (training/fashion-mnist.ts).
# Idempotent: exits at once when the files are there. Cannot install: fails
# under CI=true, otherwise warns and exits 0; the training test then fails
# loudly, naming the package.
set -u

dir=/usr/share/datasets/fashion-mnist
[ -f "$dir/t10k-labels-idx1-ubyte.gz" ] && [ -f "$dir/train-images-idx3-ubyte.gz" ] && exit 0

name=ensure-fashion-mnist
need=dataset-fashion-mnist
needs="the training test needs it"
later="the training test will fail until it is installed"
. "$(dirname "$0")/apt-ensure.sh"
apt_ensure dataset-fashion-mnist

[ -f "$dir/t10k-labels-idx1-ubyte.gz" ] || give_up "its files are not in $dir after apt-get install"
exit 0
