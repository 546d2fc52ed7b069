// Package soapfault is the Caddy-free fault model of caddy-soap-affinity: it
// validates and renders the SOAP 1.1, SOAP 1.2 and POX faults that Apache
// Synapse's makefault mediator produces, and answers a request in the version
// its Content-Type asks for (package soap tells which).
//
// A Fault is validated and compiled once (Compile); the result holds each
// envelope pre-rendered as two byte slices around the reason, so that answering
// a request costs one escape of the reason text and one append.
package soapfault
