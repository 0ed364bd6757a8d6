using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using Ingestion.Tests.Infrastructure;
using Microsoft.AspNetCore.Http;
using StandardWebhooks;
using StandardWebhooks.Diagnostics;

namespace Ingestion.Tests.EndToEnd.Webhooks;

/// <summary>
/// What README.md tells receivers to do, copied from it, so that the tests check the
/// signature the way a receiver will (not with the service's own code): the Standard Webhooks
/// signature with a stock verifier (the <c>StandardWebhooks</c> package), the deprecated
/// <c>Ingestion-Signature</c> with README's code.
/// </summary>
public static class WebhookVerification
{
    // --- README: "Verifying a webhook" (C#) ---
    public static bool IsAuthentic(string secret, string timestamp, string signature, byte[] body, TimeSpan tolerance)
    {
        if (!long.TryParse(timestamp, out var seconds)
            || Math.Abs(DateTimeOffset.UtcNow.ToUnixTimeSeconds() - seconds) > tolerance.TotalSeconds)
        {
            return false; // too old (or from the future): a replay, or a clock far off
        }

        var signed = Encoding.UTF8.GetBytes(timestamp + ".").Concat(body).ToArray();
        var expected = "v1=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), signed));
        return CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(expected), Encoding.ASCII.GetBytes(signature));
    }
    // --- end ---

    /// <summary>README: a tenant's Standard Webhooks secret is <c>whsec_</c> and the base64 of its webhook secret (unless that is one already).</summary>
    public static string StandardSecret(string secret) =>
        secret.StartsWith("whsec_", StringComparison.Ordinal) ? secret : "whsec_" + Convert.ToBase64String(Encoding.UTF8.GetBytes(secret));

    /// <summary>What a receiver using the stock verifier does with the request it got.</summary>
    public static bool IsStandardAuthentic(string whsecSecret, WebhookReceiver.Request request, byte[]? body = null)
    {
        var headers = new HeaderDictionary();
        foreach (var (name, value) in request.Headers)
        {
            headers[name] = value;
        }

        try
        {
            new StandardWebhook(whsecSecret).Verify(Encoding.UTF8.GetString(body ?? request.Body), headers);
            return true;
        }
        catch (WebhookVerificationException)
        {
            return false;
        }
    }

    /// <summary>README's shell check: <c>printf '%s.' "$TS" | cat - body.json | openssl dgst -sha256 -hmac "$SECRET"</c>.</summary>
    public static async Task<string> OpensslSignatureAsync(string secret, string timestamp, byte[] body)
    {
        var file = Path.GetTempFileName();
        try
        {
            await File.WriteAllBytesAsync(file, body);
            var start = new ProcessStartInfo("sh")
            {
                ArgumentList = { "-c", """printf '%s.' "$TS" | cat - "$BODY" | openssl dgst -sha256 -hmac "$SECRET" | sed 's/^.*= /v1=/'""" },
                Environment = { ["TS"] = timestamp, ["BODY"] = file, ["SECRET"] = secret },
                RedirectStandardOutput = true,
            };
            using var process = Process.Start(start)!;
            var output = await process.StandardOutput.ReadToEndAsync();
            await process.WaitForExitAsync();
            return output.Trim();
        }
        finally
        {
            File.Delete(file);
        }
    }
}
