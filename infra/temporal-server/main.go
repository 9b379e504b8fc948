// The Temporal server as Zanshin deploys it (issue 32): Temporal's own server (frontend, history, matching, worker in
// one process) on PostgreSQL with mutual TLS, and an authorizer that knows Zanshin's identities. Its certificates come
// from the cluster's PKI: the control plane ("control", "admin") may do everything; a PC ("node:<id>") may only poll
// its own activity task queue (node-<id>), answer the tasks it got, and ask for its own power-off evacuation.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"go.temporal.io/server/common/authorization"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/log"
	_ "go.temporal.io/server/common/persistence/sql/sqlplugin/postgresql" // PostgreSQL persistence
	"go.temporal.io/server/temporal"
)

func main() {
	configFile := flag.String("config-file", "", "Temporal server configuration (YAML)")
	namespace := flag.String("namespace", "default", "the namespace PCs work in")
	controlQueue := flag.String("control-task-queue", "zanshin-control", "task queue of the control worker")
	servicesFlag := flag.String("services", strings.Join(temporal.DefaultServices, ","),
		"Temporal's services this process runs, comma-separated (all by default; split them over hosts to grow)")
	flag.Parse()
	services, err := parseServices(*servicesFlag, temporal.DefaultServices)
	if err != nil {
		fmt.Fprintf(os.Stderr, "zanshin-temporal: %v\n", err)
		os.Exit(2)
	}
	if *configFile == "" {
		fmt.Fprintln(os.Stderr, "zanshin-temporal: give --config-file (the cluster writes one: infra/cluster/temporal-server.ts)")
		os.Exit(2)
	}
	databaseURL := os.Getenv("ZANSHIN_DATABASE_URL")
	if databaseURL == "" {
		fmt.Fprintln(os.Stderr, "zanshin-temporal: set ZANSHIN_DATABASE_URL to migration-api's database (PCs' certificates and revocations)")
		os.Exit(2)
	}
	credentials, err := newPcCredentials(databaseURL, 2*time.Second)
	if err != nil {
		fmt.Fprintf(os.Stderr, "zanshin-temporal: ZANSHIN_DATABASE_URL: %v\n", err)
		os.Exit(2)
	}
	var cfg *config.Config
	cfg, err = config.Load(config.WithConfigFile(*configFile))
	if err != nil {
		fmt.Fprintf(os.Stderr, "zanshin-temporal: cannot load %s: %v\n", *configFile, err)
		os.Exit(1)
	}
	logger := log.NewZapLogger(log.BuildZapLogger(cfg.Log))
	rules := Rules{Namespace: *namespace, ControlTaskQueue: *controlQueue}
	server, err := temporal.NewServer(
		temporal.ForServices(services),
		temporal.WithConfig(cfg),
		temporal.WithLogger(logger),
		temporal.InterruptOn(temporal.InterruptCh()),
		temporal.WithAuthorizer(&zanshinAuthorizer{rules: rules}),
		temporal.WithClaimMapper(func(*config.Config) authorization.ClaimMapper { return certificateClaims{credentials} }),
	)
	if err != nil {
		fmt.Fprintf(os.Stderr, "zanshin-temporal: cannot create the server: %v\n", err)
		os.Exit(1)
	}
	if err := server.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "zanshin-temporal: cannot start the server: %v\n", err)
		os.Exit(1)
	}
}
