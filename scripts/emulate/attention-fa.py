#!/usr/bin/env python3
"""Emulates kernels.cu's attention_fa on the CPU (no GPU): extracts the tensor-core section of kernels.cu, replaces
its PTX (mma.sync, ldmatrix, cp.async, cvt) by fa_emu.h's host emulation, compiles it with g++ against fa_main.cpp
and runs it: every row of prompts and chunks against a float64 reference (the GPU test's tile bound), and a prompt's
rows bit-equal batched and as two chunks. Usage: scripts/emulate/attention-fa.py [HEAD_DIM N_HEADS N_KV_HEADS WINDOW
FA_WARPS] (default 64 4 1 0 8); exit status 0 when all holds."""
import pathlib
import re
import subprocess
import sys
import tempfile

here = pathlib.Path(__file__).resolve().parent
src = (here.parents[1] / "trtllm-core/src/main/resources/io/trtllm/runtime/cuda/kernels.cu").read_text()
start = src.index("#if HEAD_DIM % 16 == 0 && HEAD_DIM <= 128")
end = src.index("#endif  // tensor-core attention") + len("#endif  // tensor-core attention")
sec = src[start:end]
# attention_tc's kernel is not emulated
tc0 = sec.index('extern "C" __global__ void __launch_bounds__(32 * TC_WARPS)')
tc1 = sec.index("// ---- attention_fa")
sec = sec[:tc0] + sec[tc1:]


def sub(pattern, repl, text, count):
    new, n = re.subn(pattern, repl, text, flags=re.S)
    if n != count:
        sys.exit(f"emulate: {n} matches of {pattern!r}, expected {count}")
    return new


sec = sub(r'asm volatile\(TC_MMA .*?\);', 'emu_mma(d, a, b0, b1);', sec, 1)
sec = sub(r'asm\("\{ \.reg \.u64 t; cvta\.to\.shared.*?\);', 'a = 0; (void) p;', sec, 1)
sec = sub(r'asm volatile\("ldmatrix\.sync\.aligned\.m8n8\.x4(\.trans)?\.shared\.b16 \{%0,%1,%2,%3\}, \[%4\];"\s*'
          r':\s*"=r"\(b0\), "=r"\(b1\), "=r"\(b2\), "=r"\(b3\)\s*:\s*"r"\(tc_smem\((\w+)\)\)\);',
          lambda m: f'emu_ldmatrix({"true" if m.group(1) else "false"}, {m.group(2)}, b0, b1, b2, b3);', sec, 2)
sec = sub(r'asm\("cvt\.rn\.bf16x2\.f32 %0, %1, %2;" : "=r"\(r\) : "f"\(hi\), "f"\(lo\)\);', 'r = emu_pack_bf16(hi, lo);', sec, 1)
sec = sub(r'asm\("cvt\.rn\.f16x2\.f32 .*?\);', 'r = 0;', sec, 1)
sec = sub(r'asm volatile\("cp\.async\.cg\.shared\.global \[%0\], \[%1\], 16;" :: "r"\(tc_smem\(d\)\), "l"\(cache \+ off\) : "memory"\);',
          'emu_cp_async(d, cache + off);', sec, 1)
sec = sub(r'asm volatile\("cp\.async\.commit_group;" ::: "memory"\);', ';', sec, 1)
sec = sub(r'asm volatile\("cp\.async\.wait_group 0;" ::: "memory"\);', 'emu_wait();', sec, 1)
if "asm" in re.sub(r"//.*", "", sec):
    sys.exit("emulate: PTX left in the extracted section")

hd, heads, kv, window, warps = (sys.argv[1:6] + ["64", "4", "1", "0", "8"][len(sys.argv[1:6]):])
with tempfile.TemporaryDirectory() as tmp:
    t = pathlib.Path(tmp)
    (t / "fa_kernel.inc").write_text(sec)
    exe = t / "fa"
    subprocess.run(["g++", "-std=c++20", "-O2", "-pthread", "-w", f"-I{here}", f"-I{t}", f"-DHEAD_DIM={hd}",
                    f"-DN_HEADS={heads}", f"-DN_KV_HEADS={kv}", f"-DWINDOW={window}", f"-DFA_WARPS={warps}",
                    str(here / "fa_main.cpp"), "-o", str(exe)], check=True)
    status = 0
    for mode in ("deferred", "eager"):
        status |= subprocess.run([str(exe), mode]).returncode
    sys.exit(status)
