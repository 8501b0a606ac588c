#!/bin/sh
# Builds the OpenCL adapter for TEST DEVICES (see ocl_test_adapter.c: it must never
# ship) inside the arm64 test bed, and one ICD vendor directory per CPU driver:
#
#   sh tools/ocl_test_adapter/build.sh [OUT]      (OUT defaults to /cache/ocl-adapter)
#
#   OUT/libOpenCL.so         put OUT on LD_LIBRARY_PATH for the CL test runs only
#   OUT/vendors/pocl/        OCL_ICD_VENDORS for PoCL alone
#   OUT/vendors/rusticl/     OCL_ICD_VENDORS for Mesa's rusticl alone
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-/cache/ocl-adapter}
mkdir -p "$out"
lib="$out/libOpenCL.so"
if [ ! -f "$lib" ] || [ "$here/ocl_test_adapter.c" -nt "$lib" ] || [ "$0" -nt "$lib" ]; then
    # --no-as-needed keeps the real loader as DT_NEEDED: what we do not define forwards there.
    ${CC:-gcc} -O2 -Wall -Wextra -fPIC -shared -o "$lib.tmp" "$here/ocl_test_adapter.c" \
        -Wl,--no-as-needed -l:libOpenCL.so.1 -ldl -lpthread
    mv "$lib.tmp" "$lib"
    echo "ocl_test_adapter: built $lib"
fi
for vendor in pocl rusticl; do
    mkdir -p "$out/vendors/$vendor"
    if [ -f "/etc/OpenCL/vendors/$vendor.icd" ]; then
        cp "/etc/OpenCL/vendors/$vendor.icd" "$out/vendors/$vendor/$vendor.icd"
    fi
done
