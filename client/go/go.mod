module lamd.local/lam

go 1.19
