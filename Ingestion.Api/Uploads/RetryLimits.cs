using System.Globalization;
using Ingestion.Platform.Datasets;
using Ingestion.Platform.Jobs;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Ingestion.Api.Jobs;

/// <summary>The optional body of <c>POST /v1/jobs/{id}/retry</c>: reject limits raised for this job only.</summary>
public sealed record RetryRequest(long? MaxRejectedRows, double? MaxRejectedRatio)
{
    public bool RaisesLimits => MaxRejectedRows is not null || MaxRejectedRatio is not null;
}

/// <summary>
/// What a retry may do about reject limits. A job that stopped at its limit has counts that
/// already cross it (they are the whole file's), so retried as it is it would stop again at
/// once: that retry is refused, and one that raises the limit crossed is let through.
/// </summary>
public static class RetryLimits
{
    /// <summary>Null when the retry may go ahead (with <paramref name="request"/>'s limits, if any); else the answer.</summary>
    public static async Task<ProblemHttpResult?> RefusalAsync(JobState job, RetryRequest? request, DatasetCatalog datasets,
        CancellationToken cancellationToken)
    {
        var stopped = job.Error?.Code == RejectLimits.ErrorCode;
        if (request is not { RaisesLimits: true } && !stopped)
        {
            return null;
        }

        if (job is not UploadJob upload
            || await datasets.FindAsync(job.TenantId, upload.DatasetName, cancellationToken) is not { } dataset)
        {
            return TypedResults.Problem(statusCode: 400, title: "This job has no reject limits",
                detail: $"Job {job.CorrelationId} is not an upload into an existing dataset; retry it without a body.");
        }

        var inForce = RejectLimits.Of(dataset, upload);
        var seen = upload.RowsLoaded + upload.RowsRejected;
        if (request is not { RaisesLimits: true })
        {
            return TypedResults.Problem(statusCode: 409, title: "The job stopped at its reject limit",
                detail: $"{job.Error!.Message} Retried as it is, it would stop again at once, since its counts are the whole file's. "
                        + "Send higher limits for this job in the body, e.g. {\"maxRejectedRows\": "
                        + (upload.RowsRejected * 2).ToString(CultureInfo.InvariantCulture)
                        + "} or {\"maxRejectedRatio\": 0.5}, or fix the file and upload it as a new job.",
                extensions: new Dictionary<string, object?>
                {
                    ["rejectedRows"] = upload.RowsRejected,
                    ["rowsRead"] = seen,
                    ["maxRejectedRows"] = inForce.MaxRows,
                    ["maxRejectedRatio"] = inForce.MaxRatio,
                });
        }

        var errors = new Dictionary<string, string[]>();
        if (request.MaxRejectedRows is { } rows)
        {
            if (rows < 0)
            {
                errors["maxRejectedRows"] = ["must be zero or more."];
            }
            else if (inForce.MaxRows is { } current && rows <= current)
            {
                errors["maxRejectedRows"] = [$"must be higher than the limit in force, {current}."];
            }
        }

        if (request.MaxRejectedRatio is { } ratio)
        {
            if (ratio is not (> 0 and <= 1) || double.IsNaN(ratio))
            {
                errors["maxRejectedRatio"] = ["must be more than 0 and at most 1."];
            }
            else if (inForce.MaxRatio is { } current && ratio <= current)
            {
                errors["maxRejectedRatio"] = [$"must be higher than the limit in force, {current.ToString(CultureInfo.InvariantCulture)}."];
            }
        }

        if (errors.Count == 0 && stopped)
        {
            // The rows already read must fit the new limits, or the job stops again before its next batch.
            var raised = RejectLimits.Of(dataset, request.MaxRejectedRows ?? upload.MaxRejectedRows,
                request.MaxRejectedRatio ?? upload.MaxRejectedRatio);
            if (raised.MaxRows is { } maxRows && upload.RowsRejected > maxRows)
            {
                errors["maxRejectedRows"] = [$"must be at least {upload.RowsRejected}: the rows rejected so far cross {maxRows}."];
            }
            else if (raised.MaxRatio is { } maxRatio && seen > 0 && (double)upload.RowsRejected / seen > maxRatio)
            {
                errors["maxRejectedRatio"] = [$"must be at least {(double)upload.RowsRejected / seen:0.####}: the rows read so far cross {maxRatio}."];
            }
        }

        return errors.Count == 0
            ? null
            : TypedResults.Problem(new HttpValidationProblemDetails(errors) { Status = 400, Title = "The raised limits are not valid" });
    }
}
