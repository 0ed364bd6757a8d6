using System.Globalization;
using Ingestion.Platform.Limits;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Ingestion.Api.Uploads;

/// <summary>
/// <c>Limits:UploadsInFlightPerTenant</c> and <c>UploadsInFlightPerInstance</c> as the API applies
/// them: asked once a request is known to be acceptable and before a byte of its body is read
/// (a client that sent <c>Expect: 100-continue</c> never sends it), held until the upload ends.
/// </summary>
public static class UploadAdmission
{
    /// <summary>The upload's place, to dispose when it ends; or the 429/503 to answer instead.</summary>
    public static async Task<(IntakeLease? Lease, ProblemHttpResult? Refused)> EnterAsync(HttpContext context, IntakeSlots slots,
        string tenantId, CancellationToken cancellationToken)
    {
        var (lease, refusal) = await slots.TryEnterAsync(tenantId, cancellationToken);
        if (lease is not null)
        {
            return (lease, null);
        }

        var limits = slots.Limits;
        var seconds = Math.Max(1, (long)Math.Ceiling(limits.UploadRetryAfter.TotalSeconds));
        context.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
        return refusal == IntakeRefusal.Tenant
            ? (null, TypedResults.Problem(statusCode: StatusCodes.Status429TooManyRequests, title: "Too many uploads at once",
                detail: $"A tenant may send {limits.UploadsInFlightPerTenant} uploads at a time; try again in {seconds} seconds, or once one of them has finished. Nothing was read.",
                extensions: new Dictionary<string, object?>
                {
                    ["uploadsInFlightPerTenant"] = limits.UploadsInFlightPerTenant,
                    ["retryAfterSeconds"] = seconds,
                }))
            : (null, TypedResults.Problem(statusCode: StatusCodes.Status503ServiceUnavailable, title: "Too many uploads on this instance",
                detail: $"This API instance receives {limits.UploadsInFlightPerInstance} uploads at a time; try again in {seconds} seconds. Nothing was read.",
                extensions: new Dictionary<string, object?>
                {
                    ["uploadsInFlightPerInstance"] = limits.UploadsInFlightPerInstance,
                    ["retryAfterSeconds"] = seconds,
                }));
    }
}
