using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

namespace Ingestion.Platform.Sources;

/// <summary>
/// Seals a source's secret for storage and opens it for a request, with AES-256-GCM under
/// <see cref="SourceOptions.SecretKey"/>. The tenant and source name are the associated data,
/// so a sealed secret copied onto another tenant's or source's row does not open.
/// Also names the rate budget a credential draws from, without keeping the secret in clear.
/// </summary>
public sealed class SourceSecrets
{
    private const int NonceBytes = 12;
    private const int TagBytes = 16;

    private readonly byte[] _key;

    public SourceSecrets(IOptions<SourceOptions> options)
    {
        if (!TryDecodeKey(options.Value.SecretKey, out var key))
        {
            throw new OptionsValidationException(SourceOptions.Section, typeof(SourceOptions),
                [$"{SourceOptions.Section}:SecretKey must be 32 bytes in base64 (openssl rand -base64 32)."]);
        }

        _key = key;
    }

    public static bool TryDecodeKey(string? value, out byte[] key)
    {
        key = [];
        if (string.IsNullOrWhiteSpace(value))
        {
            return false;
        }

        var bytes = new byte[48];
        if (!Convert.TryFromBase64String(value.Trim(), bytes, out var written) || written != 32)
        {
            return false;
        }

        key = bytes[..32];
        return true;
    }

    /// <summary>Nonce, ciphertext and tag, in one array, for the <c>secret</c> column.</summary>
    public byte[] Seal(string secret, string tenantId, string sourceName)
    {
        var plain = Encoding.UTF8.GetBytes(secret);
        var sealedBytes = new byte[NonceBytes + plain.Length + TagBytes];
        var nonce = sealedBytes.AsSpan(0, NonceBytes);
        RandomNumberGenerator.Fill(nonce);
        using var aes = new AesGcm(_key, TagBytes);
        aes.Encrypt(nonce, plain, sealedBytes.AsSpan(NonceBytes, plain.Length), sealedBytes.AsSpan(NonceBytes + plain.Length),
            AssociatedData(tenantId, sourceName));
        CryptographicOperations.ZeroMemory(plain);
        return sealedBytes;
    }

    /// <summary>The secret; throws <see cref="CryptographicException"/> when the key changed or the row was tampered with.</summary>
    public string Open(byte[] sealedBytes, string tenantId, string sourceName)
    {
        if (sealedBytes.Length < NonceBytes + TagBytes)
        {
            throw new CryptographicException("A stored source secret is too short to be one.");
        }

        var length = sealedBytes.Length - NonceBytes - TagBytes;
        var plain = new byte[length];
        using var aes = new AesGcm(_key, TagBytes);
        aes.Decrypt(sealedBytes.AsSpan(0, NonceBytes), sealedBytes.AsSpan(NonceBytes, length), sealedBytes.AsSpan(NonceBytes + length),
            plain, AssociatedData(tenantId, sourceName));
        return Encoding.UTF8.GetString(plain);
    }

    /// <summary>
    /// The name of the rate budget a source draws from: one per tenant, upstream host, way of
    /// authenticating and secret (an API that counts header and query-parameter auth separately
    /// gets two budgets). An HMAC, so the table of budgets does not reveal the secret.
    /// </summary>
    public string BudgetKey(string tenantId, SourceDefinition source, string? secret)
    {
        var host = new Uri(source.Request.BaseUrl).Authority.ToLowerInvariant();
        var identity = $"{tenantId}\n{host}\n{source.Auth?.In.ToString() ?? "none"}\n{source.Auth?.Name}\n{secret}";
        return Convert.ToHexStringLower(HMACSHA256.HashData(_key, Encoding.UTF8.GetBytes(identity)));
    }

    private static byte[] AssociatedData(string tenantId, string sourceName) =>
        Encoding.UTF8.GetBytes($"ingestion.sources\n{tenantId}\n{sourceName}");
}
