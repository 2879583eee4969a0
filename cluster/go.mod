module github.com/futuresgen/futuresgen/cluster

go 1.26.0

replace github.com/futuresgen/futuresgen => ../

require golang.org/x/sys v0.49.0
