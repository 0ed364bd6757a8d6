namespace Ingestion.Platform.Jobs;

/// <summary>Where a job's owner wants to hear that it ended.</summary>
public static class CallbackUrl
{
    public const int MaxLength = 2048;

    /// <summary>The longest name DNS can carry.</summary>
    public const int MaxHostLength = 253;

    public static bool TryValidate(string? url, out string problem)
    {
        problem = "";
        if (string.IsNullOrWhiteSpace(url))
        {
            problem = "is empty.";
        }
        else if (url.Length > MaxLength)
        {
            problem = $"is longer than {MaxLength} characters.";
        }
        else if (!Uri.TryCreate(url, UriKind.Absolute, out var uri))
        {
            problem = $"'{url}' is not an absolute URL.";
        }
        else if (uri.Scheme is not ("http" or "https"))
        {
            problem = $"must be http or https, not '{uri.Scheme}'.";
        }
        else if (!string.IsNullOrEmpty(uri.UserInfo))
        {
            problem = "must not carry credentials in the URL.";
        }
        else if (uri.IdnHost.Length > MaxHostLength)
        {
            // Uri accepts longer names; DNS does not, and the resolver would throw rather than answer.
            problem = $"names a host longer than {MaxHostLength} characters.";
        }

        return problem.Length == 0;
    }
}
