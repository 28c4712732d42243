package server

import (
	"bytes"
	"io"
	"net"
	"strings"
	"testing"
)

// TestOutBufferKeepsTheStreamInOrder writes a mix of small and large
// pieces, strings and bytes, through a real loopback connection: what
// arrives is exactly what was written, in order, whether a piece was
// buffered, sent with the buffer in one writev, or sent alone.
func TestOutBufferKeepsTheStreamInOrder(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	received := make(chan []byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			received <- nil
			return
		}
		defer c.Close()
		b, _ := io.ReadAll(c)
		received <- b
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	o := newOutBuffer(64)
	o.Reset(conn, nil)
	var want bytes.Buffer
	piece := func(n int, c byte) []byte { return bytes.Repeat([]byte{c}, n) }
	steps := []func(){
		func() { o.WriteString("HTTP/1.1 200 OK\r\n"); want.WriteString("HTTP/1.1 200 OK\r\n") },
		func() { o.WriteByte('x'); want.WriteByte('x') },
		func() { p := piece(directWrite, 'a'); o.Write(p); want.Write(p) },              // with the buffer, one writev
		func() { p := piece(directWrite+1, 'b'); o.Write(p); want.Write(p) },            // alone, nothing buffered
		func() { p := piece(40, 'c'); o.Write(p); want.Write(p) },                       // buffered
		func() { p := piece(40, 'd'); o.Write(p); want.Write(p) },                       // flushes the first, then buffered
		func() { s := strings.Repeat("e", 100); o.WriteString(s); want.WriteString(s) }, // larger than the buffer
		func() { o.writeField("A", "b"); want.WriteString("A: b\r\n") },                 // a field line that fits
		func() {
			v := strings.Repeat("g", 70) // a field line longer than the buffer
			o.writeField("Name", v)
			want.WriteString("Name: " + v + "\r\n")
		},
		func() {
			for range 200 {
				o.WriteByte('f')
				want.WriteByte('f')
			}
		},
	}
	for _, step := range steps {
		step()
	}
	if err := o.Flush(); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	if got := <-received; !bytes.Equal(got, want.Bytes()) {
		t.Errorf("received %d bytes that differ from the %d written", len(got), want.Len())
	}
}

func TestOutBufferReportsAFailedWrite(t *testing.T) {
	client, server := net.Pipe()
	server.Close()
	o := newOutBuffer(64)
	o.Reset(client, nil)
	o.WriteString("head")
	if _, err := o.Write(make([]byte, directWrite)); err == nil {
		t.Fatal("a write to a closed peer succeeded")
	}
	if err := o.Flush(); err == nil {
		t.Error("Flush after a failed write succeeded")
	}
}
