package sender

import (
	"net"
	"net/netip"
	"syscall"

	"github.com/tidingshq/tidings/webhook"
)

// refusePrivate is the dialer's Control hook: it runs after DNS resolution,
// on the address actually being connected to, so rebinding cannot bypass it.
func refusePrivate(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return &errBlocked{ip: net.ParseIP(host)}
	}
	if webhook.BlockedIP(ip) {
		return &errBlocked{ip: net.IP(ip.AsSlice())}
	}
	return nil
}
