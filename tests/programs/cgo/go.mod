module cgoalloc

go 1.19
