//go:build tools

// Temporal's SQL tool (temporal-sql-tool, which sets up the schema) is built from this module too: importing its
// package here keeps its dependencies in go.mod and go.sum.
package main

import _ "go.temporal.io/server/tools/sql"
