using System.Net;
using System.Net.Sockets;

namespace Ingestion.Platform.Webhooks;

/// <summary>
/// Which addresses a webhook may be sent to: public unicast only. Everything that reaches
/// the machine itself, the private network or the cloud's metadata service is refused, so
/// that a callback URL cannot turn the workers into a proxy into the internal network (SSRF).
/// </summary>
public static class AddressRules
{
    private static readonly (IPNetwork Network, string Why)[] RefusedV4 =
    [
        (IPNetwork.Parse("0.0.0.0/8"), "in 0.0.0.0/8 ('this network')"),
        (IPNetwork.Parse("10.0.0.0/8"), "private (10.0.0.0/8)"),
        (IPNetwork.Parse("100.64.0.0/10"), "shared carrier-grade NAT space (100.64.0.0/10)"),
        (IPNetwork.Parse("127.0.0.0/8"), "loopback"),
        (IPNetwork.Parse("169.254.169.254/32"), "the cloud metadata service"),
        (IPNetwork.Parse("169.254.0.0/16"), "link-local (169.254.0.0/16)"),
        (IPNetwork.Parse("172.16.0.0/12"), "private (172.16.0.0/12)"),
        (IPNetwork.Parse("192.0.0.0/24"), "reserved for IETF protocol assignments (192.0.0.0/24)"),
        (IPNetwork.Parse("192.0.2.0/24"), "reserved for documentation (192.0.2.0/24)"),
        (IPNetwork.Parse("192.88.99.0/24"), "reserved (6to4 relay anycast, 192.88.99.0/24)"),
        (IPNetwork.Parse("192.168.0.0/16"), "private (192.168.0.0/16)"),
        (IPNetwork.Parse("198.18.0.0/15"), "reserved for benchmarking (198.18.0.0/15)"),
        (IPNetwork.Parse("198.51.100.0/24"), "reserved for documentation (198.51.100.0/24)"),
        (IPNetwork.Parse("203.0.113.0/24"), "reserved for documentation (203.0.113.0/24)"),
        (IPNetwork.Parse("224.0.0.0/4"), "multicast"),
        (IPNetwork.Parse("255.255.255.255/32"), "broadcast"),
        (IPNetwork.Parse("240.0.0.0/4"), "reserved (240.0.0.0/4)"),
        (IPNetwork.Parse("168.63.129.16/32"), "Azure's platform endpoint (168.63.129.16)"),
    ];

    private static readonly (IPNetwork Network, string Why)[] RefusedV6 =
    [
        (IPNetwork.Parse("::/128"), "unspecified (::)"),
        (IPNetwork.Parse("::1/128"), "loopback"),
        (IPNetwork.Parse("fc00::/7"), "unique local (fc00::/7)"),
        (IPNetwork.Parse("fe80::/10"), "link-local (fe80::/10)"),
        (IPNetwork.Parse("fec0::/10"), "site-local (fec0::/10)"),
        (IPNetwork.Parse("ff00::/8"), "multicast"),
        (IPNetwork.Parse("2001:db8::/32"), "reserved for documentation (2001:db8::/32)"),
    ];

    /// <summary>Global unicast: every public IPv6 address is in it.</summary>
    private static readonly IPNetwork GlobalUnicastV6 = IPNetwork.Parse("2000::/3");

    /// <summary>6to4 and NAT64 addresses carry an IPv4 address, which is what they finally reach.</summary>
    private static readonly IPNetwork SixToFour = IPNetwork.Parse("2002::/16");

    private static readonly IPNetwork Nat64 = IPNetwork.Parse("64:ff9b::/96");

    /// <summary>Why <paramref name="address"/> may not receive a webhook, or null when it may.</summary>
    public static string? Refusal(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            return Refusal(address.MapToIPv4());
        }

        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            return RefusedV4.Where(r => r.Network.Contains(address)).Select(r => r.Why).FirstOrDefault();
        }

        if (address.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return $"not an IP address ({address.AddressFamily})";
        }

        if (RefusedV6.Where(r => r.Network.Contains(address)).Select(r => r.Why).FirstOrDefault() is { } why)
        {
            return why;
        }

        var bytes = address.GetAddressBytes();
        if (Nat64.Contains(address))
        {
            return Refusal(new IPAddress(bytes[12..16]));
        }

        if (SixToFour.Contains(address))
        {
            return Refusal(new IPAddress(bytes[2..6]));
        }

        return GlobalUnicastV6.Contains(address) ? null : "reserved (outside IPv6 global unicast 2000::/3)";
    }
}
