# make -j2 over a small generated project (a parallel make forks cc1, as, ld).
OUT ?= /tmp/ctrprof-compat-make
SRCS := $(foreach i,1 2 3 4 5 6,$(OUT)/u$(i).c)
all: $(OUT)/prog
	@$(OUT)/prog
$(OUT)/u%.c:
	@mkdir -p $(OUT)
	@printf 'int f%s(int x) { int s = 0; for (int i = 0; i < x; i++) s += i * %s; return s; }\n' $* $* > $@
$(OUT)/main.c:
	@mkdir -p $(OUT)
	@printf '#include <stdio.h>\n' > $@
	@for i in 1 2 3 4 5 6; do printf 'int f%s(int);\n' $$i >> $@; done
	@printf 'int main(void) { printf("%%d\\n", f1(10) + f2(20) + f3(30) + f4(40) + f5(50) + f6(60)); return 0; }\n' >> $@
$(OUT)/%.o: $(OUT)/%.c
	@cc -O2 -c $< -o $@
$(OUT)/prog: $(SRCS:.c=.o) $(OUT)/main.o
	@cc -o $@ $^
