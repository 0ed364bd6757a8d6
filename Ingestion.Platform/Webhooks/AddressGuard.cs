using System.Net;
using System.Net.Sockets;

namespace Ingestion.Platform.Webhooks;

/// <summary>
/// Where a URL the service is told to call leads, checked before anything is sent: the host is
/// resolved and every address it resolves to must be public (<see cref="AddressRules"/>), unless
/// the host is allow-listed. Webhook callbacks (<see cref="CallbackGuard"/>) and sources' base URLs
/// (<c>SourceGuard</c>) both pass through it, each with its own allow-list; the caller then
/// connects only to the addresses checked here, so DNS cannot change its answer in between.
/// </summary>
public static class AddressGuard
{
    /// <param name="url">An absolute http(s) URL.</param>
    /// <param name="allowListed">The host is one an operator allowed, whatever it resolves to.</param>
    /// <param name="timeout">How long the DNS lookup may take.</param>
    /// <param name="rule">What the refusal says after the address, e.g. "callbacks go only to public addresses".</param>
    public static async Task<CallbackCheck> CheckAsync(Uri url, bool allowListed, TimeSpan timeout, string rule,
        CancellationToken cancellationToken)
    {
        var host = url.IdnHost;
        if (allowListed)
        {
            return new CallbackCheck(null, null);
        }

        IPAddress[] addresses;
        if (url.HostNameType is UriHostNameType.IPv4 or UriHostNameType.IPv6)
        {
            addresses = [IPAddress.Parse(url.DnsSafeHost)];
        }
        else
        {
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            deadline.CancelAfter(timeout);
            try
            {
                addresses = await Dns.GetHostAddressesAsync(host, deadline.Token);
            }
            catch (SocketException e)
            {
                return new CallbackCheck(null, $"names host '{host}', which does not resolve ({e.SocketErrorCode}).");
            }
            catch (ArgumentException)
            {
                return new CallbackCheck(null, $"names host '{host}', which is not a name DNS can look up.");
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                return new CallbackCheck(null, $"names host '{host}', which did not resolve within {timeout.TotalSeconds:0.#} s.");
            }
        }

        if (addresses.Length == 0)
        {
            return new CallbackCheck(null, $"names host '{host}', which resolves to no address.");
        }

        foreach (var address in addresses)
        {
            if (AddressRules.Refusal(address) is { } why)
            {
                var resolved = url.HostNameType is UriHostNameType.Dns ? $"host '{host}' resolves to {address}, which" : $"{address}";
                return new CallbackCheck(null, $"is refused: {resolved} is {why}; {rule}.");
            }
        }

        return new CallbackCheck(addresses, null);
    }
}
