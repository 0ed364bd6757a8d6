
namespace Ingestion.Api.Console;

/// <summary>
/// Headers of every page the API serves to a browser (the console and the API reference): a
/// Content-Security-Policy that allows script, style and connections from this origin only, no
/// inline script or style, no framing, and nothing sent to other sites in a Referer.
/// </summary>
public static class ConsoleHeaders
{
    public const string ConsolePolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; " +
        "connect-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

    public static void Apply(HttpResponse response, string policy)
    {
        var headers = response.Headers;
        headers.ContentSecurityPolicy = policy;
        headers.XContentTypeOptions = "nosniff";
        headers.XFrameOptions = "DENY";
        headers["Referrer-Policy"] = "no-referrer";
        headers["Cross-Origin-Opener-Policy"] = "same-origin";
        headers["Cross-Origin-Resource-Policy"] = "same-origin";
        headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=(), payment=()";
    }

    /// <summary>The console's files change with each release and carry no version in their names: revalidate each time (a 304 when unchanged).</summary>
    public static void Revalidate(HttpResponse response) => response.Headers.CacheControl = "no-cache";
}
