module github.com/fabgossip/fabgossip/bindings/go

go 1.22
