module github.com/fabgossip/fabgossip/examples/go

go 1.22

require github.com/fabgossip/fabgossip/bindings/go v0.0.0

replace github.com/fabgossip/fabgossip/bindings/go => ../../bindings/go
