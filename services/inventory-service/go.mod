module github.com/eventshop/eventshop/services/inventory-service

go 1.26.0

require github.com/eventshop/eventshop/pkg v0.0.0

replace github.com/eventshop/eventshop/pkg => ../../pkg
