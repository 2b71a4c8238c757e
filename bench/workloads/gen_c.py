# Generates a large C file for `gcc -O2` (deterministic).
import sys
n = int(sys.argv[1]) if len(sys.argv) > 1 else 600
out = ["#include <stdio.h>", "#include <string.h>"]
for i in range(n):
    out.append(f"""
static int f{i}(const int *a, int n) {{
    int s = {i};
    for (int j = 0; j < n; j++) {{
        if (a[j] % {i % 7 + 2} == 0) s += a[j] * {i % 13 + 1}; else s ^= a[j] << {i % 5};
        switch (a[j] & 7) {{ case 0: s += 1; break; case 1: s -= 2; break; case 3: s *= 3; break; default: s ^= {i}; }}
    }}
    return s;
}}""")
out.append("int main(void) { int a[64]; for (int i = 0; i < 64; i++) a[i] = i * 31; long t = 0;")
for i in range(n):
    out.append(f"  t += f{i}(a, 64);")
out.append('  printf("%ld\\n", t); return 0; }')
print("\n".join(out))
