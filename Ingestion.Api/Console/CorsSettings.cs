using System.ComponentModel.DataAnnotations;

namespace Ingestion.Api.Console;

/// <summary>
/// Frontends served from other origins (<c>Cors</c> section). Nothing is allowed unless listed:
/// an empty list answers every preflight without the headers a browser needs to go on.
/// </summary>
public sealed class CorsSettings : IValidatableObject
{
    public const string Section = "Cors";

    /// <summary>Origins as browsers send them: scheme, host and port, no path (<c>https://app.example.com</c>).</summary>
    public List<string> AllowedOrigins { get; set; } = [];

    /// <summary>
    /// Whether those origins may send the console's session cookie. Off by default: a frontend
    /// elsewhere sends <c>X-Api-Key</c> from its own backend; turn on only for a deployment
    /// whose other origin is meant to share the sign-in.
    /// </summary>
    public bool AllowCredentials { get; set; }

    [Range(0, 86400)]
    public int PreflightMaxAgeSeconds { get; set; } = 600;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        foreach (var origin in AllowedOrigins)
        {
            if (origin == "*")
            {
                yield return new ValidationResult("Cors:AllowedOrigins must name origins; '*' would let any site call the API.",
                    [nameof(AllowedOrigins)]);
            }
            else if (!Uri.TryCreate(origin, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https")
                || uri.GetLeftPart(UriPartial.Authority) != origin.TrimEnd('/'))
            {
                yield return new ValidationResult(
                    $"Cors:AllowedOrigins entry '{origin}' is not an origin: write scheme://host[:port] with no path.",
                    [nameof(AllowedOrigins)]);
            }
        }
    }
}
