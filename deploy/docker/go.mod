module github.com/eventshop/eventshop/deploy/docker

go 1.26.0
