using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Ingestion.Workers.Webhooks;

/// <summary>
/// <c>Ingestion-Signature: v1=&lt;hex HMAC-SHA256(secret, "{timestamp}.{body}")&gt;</c>. The timestamp
/// is signed with the body so that a captured request cannot be replayed later under a fresh
/// timestamp; the version prefix lets a second scheme be added while receivers migrate.
/// </summary>
internal static class WebhookSignature
{
    public const string TimestampHeader = "Ingestion-Timestamp";
    public const string SignatureHeader = "Ingestion-Signature";
    public const string DeliveryHeader = "Ingestion-Delivery";
    public const string AttemptHeader = "Ingestion-Attempt";

    public static string Sign(string secret, long timestamp, ReadOnlySpan<byte> body)
    {
        var prefix = Encoding.UTF8.GetBytes(timestamp.ToString(CultureInfo.InvariantCulture) + ".");
        var signed = new byte[prefix.Length + body.Length];
        prefix.CopyTo(signed, 0);
        body.CopyTo(signed.AsSpan(prefix.Length));
        return "v1=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), signed));
    }
}
