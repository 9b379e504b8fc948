// The Temporal Web UI beside the full server (issue 32): Temporal's own ui-server module, talking to the frontend with
// mutual TLS as the cluster's "admin" identity (the authorizer lets it read everything), and reading payloads through
// the cluster's codec server (they are encrypted with the cluster key). It listens on loopback: an administrator
// reaches it through an SSH tunnel, never the LAN.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	"github.com/temporalio/ui-server/v2/server/server_options"
)

func main() {
	host := flag.String("host", "127.0.0.1", "address the UI listens on")
	port := flag.Int("port", 8233, "port the UI listens on")
	frontend := flag.String("frontend", "127.0.0.1:7233", "the Temporal frontend, host:port")
	ca := flag.String("tls-ca", "", "the cluster CA certificate (the frontend's certificate chains to it)")
	cert := flag.String("tls-cert", "", "the UI's client certificate (CN admin)")
	key := flag.String("tls-key", "", "its key")
	serverName := flag.String("tls-server-name", "temporal.zanshin", "the name the frontend's certificate proves")
	codec := flag.String("codec-endpoint", "", "the codec server that decrypts payloads for the browser")
	flag.Parse()
	for name, v := range map[string]string{"--tls-ca": *ca, "--tls-cert": *cert, "--tls-key": *key} {
		if v == "" {
			fmt.Fprintf(os.Stderr, "zanshin-temporal-ui: give %s (the frontend admits mutual-TLS clients only)\n", name)
			os.Exit(2)
		}
	}
	server := uiserver.NewServer(server_options.WithConfigProvider(&uiconfig.Config{
		Host:                *host,
		Port:                *port,
		TemporalGRPCAddress: *frontend,
		EnableUI:            true,
		DefaultNamespace:    "default",
		TLS: uiconfig.TLS{
			CaFile:                 *ca,
			CertFile:               *cert,
			KeyFile:                *key,
			ServerName:             *serverName,
			EnableHostVerification: true,
		},
		Codec: uiconfig.Codec{Endpoint: *codec},
		// Plain HTTP on loopback: the CSRF cookie must still be sent.
		CORS:     uiconfig.CORS{CookieInsecure: true},
		HideLogs: true,
	}))
	go func() {
		stop := make(chan os.Signal, 1)
		signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
		<-stop
		server.Stop()
		os.Exit(0)
	}()
	if err := server.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "zanshin-temporal-ui: %v\n", err)
		os.Exit(1)
	}
}
