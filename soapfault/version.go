package soapfault

import (
	"fmt"

	"github.com/soap-affinity/caddy-soap-affinity/internal/soap"
)

// Version is the kind of fault to produce.
type Version uint8

// The fault versions. VersionAuto answers in the version of the request, as
// its Content-Type tells (soap.VersionOf).
const (
	VersionAuto Version = iota + 1
	VersionSOAP11
	VersionSOAP12
	VersionPOX
)

// ParseVersion parses a version name as written in the configuration:
// soap11, soap12, pox or auto.
func ParseVersion(s string) (Version, error) {
	switch s {
	case "soap11":
		return VersionSOAP11, nil
	case "soap12":
		return VersionSOAP12, nil
	case "pox":
		return VersionPOX, nil
	case "auto":
		return VersionAuto, nil
	}
	return 0, fmt.Errorf("unknown fault version %q (want soap11, soap12, pox or auto)", s)
}

// String returns the configuration name of v.
func (v Version) String() string {
	switch v {
	case VersionAuto:
		return "auto"
	case VersionSOAP11:
		return "soap11"
	case VersionSOAP12:
		return "soap12"
	case VersionPOX:
		return "pox"
	}
	return fmt.Sprintf("Version(%d)", uint8(v))
}

// ContentType returns the Content-Type header value of a fault of version v.
func (v Version) ContentType() string { return v.soap().ContentType() }

// soap returns the SOAP version of v; POX (and auto) have none.
func (v Version) soap() soap.Version {
	switch v {
	case VersionSOAP11:
		return soap.SOAP11
	case VersionSOAP12:
		return soap.SOAP12
	}
	return soap.POX
}

// versionOf is the fault version that answers a request of SOAP version v.
func versionOf(v soap.Version) Version {
	switch v {
	case soap.SOAP11:
		return VersionSOAP11
	case soap.SOAP12:
		return VersionSOAP12
	}
	return VersionPOX
}
