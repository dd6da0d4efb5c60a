package gateway_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"net"
	"time"

	"github.com/oclcbot/oclcbot/gateway"
)

// importer is a Handler that also hears about failed exports.
type importer struct{}

func (importer) ServeExport(ctx context.Context, req *gateway.Request) string {
	user, _ := req.Credentials() // check the password here
	// ... decode, store durably, then reply ...
	return fmt.Sprintf("Import ok: %d record(s) from %s\n", len(req.Records), user)
}

func (importer) ExportFailed(ctx context.Context, req *gateway.Request, err error) {
	// Record the attempt: req.Raw has the password overwritten.
	log.Printf("export %d failed: %v", req.ID, err)
}

// A receiver and a Connexion-style export to it.
func Example() {
	srv := &gateway.Server{
		Handler: importer{},
		Logger:  slog.New(slog.DiscardHandler),
	}
	l, err := net.Listen("tcp", "127.0.0.1:0") // usually srv.Addr = ":5500"; srv.ListenAndServe()
	if err != nil {
		log.Fatal(err)
	}
	go srv.Serve(l)
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		srv.Shutdown(ctx) // lets exports in progress finish
	}()

	client := &gateway.Client{Addr: l.Addr().String(), Timeout: 100 * time.Second}
	record := []byte("00026ISO 2709 record here\x1d") // leader/00-04 is the length
	reply, err := client.Export(context.Background(), "cat1", "secret", record)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(reply)
	// Output: Import ok: 1 record(s) from cat1
}

// Parsing the spec's example with byte-counted UTF-8: the A field holds
// "user password", which Raw hides.
func ExampleParseRequest() {
	req, err := gateway.ParseRequest([]byte("A17testlib user bøf00007æ00008123"))
	if err != nil {
		log.Fatal(err)
	}
	user, _ := req.Credentials()
	fmt.Println(user)
	fmt.Printf("%q\n", req.Records)
	fmt.Printf("%s\n", req.Raw)
	// Output:
	// testlib
	// ["00007æ" "00008123"]
	// A17testlib *********00007æ00008123
}

func ExampleAppendRequest() {
	msg, err := gateway.AppendRequest(nil, &gateway.Request{
		User:     "abcde",
		Password: "hij",
		Records:  [][]byte{[]byte("0001012345")},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%q\n", msg)
	// Output: "UEabcdePChij0001012345\x00"
}
