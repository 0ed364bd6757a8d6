using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Ingestion.Workers.Webhooks;

/// <summary>
/// Every delivery is signed twice, with the tenant's webhook secret:
/// <list type="bullet">
/// <item>the Standard Webhooks way (https://www.standardwebhooks.com), so that receivers can use a
/// stock verifier: <c>webhook-id</c> (the delivery id, the same on every attempt),
/// <c>webhook-timestamp</c>, and <c>webhook-signature: v1,&lt;base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")&gt;</c>;</item>
/// <item>the service's own scheme, kept for one release while receivers move (deprecated):
/// <c>Ingestion-Signature: v1=&lt;hex HMAC-SHA256(secret, "{timestamp}.{body}")&gt;</c> with <c>Ingestion-Timestamp</c>.</item>
/// </list>
/// The timestamp is signed with the body so that a captured request cannot be replayed later under a fresh timestamp.
/// </summary>
internal static class WebhookSignature
{
    public const string StandardIdHeader = "webhook-id";
    public const string StandardTimestampHeader = "webhook-timestamp";
    public const string StandardSignatureHeader = "webhook-signature";

    public const string TimestampHeader = "Ingestion-Timestamp";
    public const string SignatureHeader = "Ingestion-Signature";
    public const string DeliveryHeader = "Ingestion-Delivery";
    public const string AttemptHeader = "Ingestion-Attempt";

    private const string StandardSecretPrefix = "whsec_";

    /// <summary>The deprecated <c>Ingestion-Signature</c>: the secret's UTF-8 bytes are the key, whatever its form.</summary>
    public static string Sign(string secret, long timestamp, ReadOnlySpan<byte> body) =>
        "v1=" + Convert.ToHexStringLower(Hmac(Encoding.UTF8.GetBytes(secret), timestamp.ToString(CultureInfo.InvariantCulture) + ".", body));

    /// <summary>The Standard Webhooks <c>webhook-signature</c>.</summary>
    public static string SignStandard(string secret, string id, long timestamp, ReadOnlySpan<byte> body) =>
        "v1," + Convert.ToBase64String(Hmac(StandardKey(secret), $"{id}.{timestamp.ToString(CultureInfo.InvariantCulture)}.", body));

    /// <summary>
    /// The Standard Webhooks key of a tenant's secret. A secret configured in the standard's form
    /// (<c>whsec_</c> and base64) is that key; any other secret's UTF-8 bytes are the key, so its
    /// receivers' <c>whsec_</c> secret is <c>"whsec_" + base64(UTF-8 bytes of the secret)</c>.
    /// </summary>
    public static byte[] StandardKey(string secret) =>
        secret.StartsWith(StandardSecretPrefix, StringComparison.Ordinal)
            ? Convert.FromBase64String(secret[StandardSecretPrefix.Length..])
            : Encoding.UTF8.GetBytes(secret);

    private static byte[] Hmac(byte[] key, string prefix, ReadOnlySpan<byte> body)
    {
        var head = Encoding.UTF8.GetBytes(prefix);
        var signed = new byte[head.Length + body.Length];
        head.CopyTo(signed, 0);
        body.CopyTo(signed.AsSpan(head.Length));
        return HMACSHA256.HashData(key, signed);
    }
}
