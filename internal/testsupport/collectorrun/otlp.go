// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package collectorrun // import "github.com/cloudtrail-detect/ssmsession/internal/testsupport/collectorrun"

import (
	"context"
	"net"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	_ "google.golang.org/grpc/encoding/gzip" // the otlp exporter compresses by default
)

// OTLPClient sends logs to a collector's OTLP/gRPC receiver, as a receiver
// of another collector tier (or an agent) would.
type OTLPClient struct {
	conn   *grpc.ClientConn
	client plogotlp.GRPCClient
}

// DialOTLP connects to endpoint (host:port) on loopback.
func DialOTLP(endpoint string) (*OTLPClient, error) {
	conn, err := grpc.NewClient(endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	return &OTLPClient{conn: conn, client: plogotlp.NewGRPCClient(conn)}, nil
}

// Send exports ld and returns once the collector accepted it.
func (c *OTLPClient) Send(ctx context.Context, ld plog.Logs) error {
	_, err := c.client.Export(ctx, plogotlp.NewExportRequestFromLogs(ld), grpc.WaitForReady(true))
	return err
}

// Close closes the connection.
func (c *OTLPClient) Close() error { return c.conn.Close() }

// OTLPSink is an OTLP/gRPC server on loopback that hands every batch an
// exporter sends it to a callback, as it arrives.
type OTLPSink struct {
	plogotlp.UnimplementedGRPCServer
	server  *grpc.Server
	addr    string
	receive func(plog.Logs)
}

// NewOTLPSink listens on a free loopback port.
func NewOTLPSink(receive func(plog.Logs)) (*OTLPSink, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &OTLPSink{server: grpc.NewServer(), addr: l.Addr().String(), receive: receive}
	plogotlp.RegisterGRPCServer(s.server, s)
	go func() { _ = s.server.Serve(l) }()
	return s, nil
}

// Addr is the sink's host:port.
func (s *OTLPSink) Addr() string { return s.addr }

// Export implements plogotlp.GRPCServer.
func (s *OTLPSink) Export(_ context.Context, req plogotlp.ExportRequest) (plogotlp.ExportResponse, error) {
	s.receive(req.Logs())
	return plogotlp.NewExportResponse(), nil
}

// Stop stops serving.
func (s *OTLPSink) Stop() { s.server.Stop() }
