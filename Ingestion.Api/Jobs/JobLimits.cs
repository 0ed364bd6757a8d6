using System.Globalization;
using Ingestion.Api.Security;
using Ingestion.Platform.Limits;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Ingestion.Api.Jobs;

/// <summary>
/// <c>Limits:JobsPerHour</c> as the API applies it: asked before a request's body is read
/// (a 2 GB upload is never accepted only to be refused), and again when the job is inserted.
/// Operators are not limited; a replayed request finds its job before it is counted.
/// </summary>
public static class JobLimits
{
    /// <summary>The caller's limit, or null for an operator.</summary>
    public static int? For(Caller caller, JobRateLimit limit) => caller.IsOps ? null : limit.JobsPerHour;

    /// <summary>Null when the caller may create a job now; otherwise the 429 to answer.</summary>
    public static async Task<ProblemHttpResult?> CheckAsync(HttpContext context, Caller caller, JobRateLimit limit,
        CancellationToken cancellationToken) =>
        caller.IsOps || await limit.CheckAsync(caller.TenantId!, cancellationToken) is not { } over
            ? null
            : TooMany(context, over);

    /// <summary>
    /// The 429 for a request that lost the race for the last place in the window, at
    /// insertion: the wait is counted again (it is at least a second).
    /// </summary>
    public static async Task<ProblemHttpResult> RefusedAsync(HttpContext context, Caller caller, JobRateLimit limit) =>
        TooMany(context, await limit.CheckAsync(caller.TenantId!, CancellationToken.None)
            ?? new OverLimit(limit.JobsPerHour, TimeSpan.FromSeconds(1)));

    private static ProblemHttpResult TooMany(HttpContext context, OverLimit over)
    {
        var seconds = Math.Max(1, (long)Math.Ceiling(over.RetryAfter.TotalSeconds));
        context.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
        return TypedResults.Problem(statusCode: StatusCodes.Status429TooManyRequests, title: "Too many jobs",
            detail: $"A tenant may create {over.JobsPerHour} jobs per hour; the next one fits in {seconds} seconds. Nothing was kept.",
            extensions: new Dictionary<string, object?> { ["jobsPerHour"] = over.JobsPerHour, ["retryAfterSeconds"] = seconds });
    }
}
