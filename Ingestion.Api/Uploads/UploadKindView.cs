using System.Globalization;
using System.Text.Json.Serialization;
using Ingestion.Api.Jobs;
using Ingestion.Platform.Datasets;
using Ingestion.Platform.Jobs;
using Ingestion.Platform.Storage;

namespace Ingestion.Api.Uploads;

/// <summary>An upload as the jobs API shows it: the object's size and hash, rows loaded and rejected, the rejects file.</summary>
public sealed class UploadKindView : JobKindView<UploadJob>
{
    public override IReadOnlyList<JobViewField> Fields { get; } =
    [
        new(nameof(UploadJob.Bytes), typeof(long?), JobViewSlot.Subject),
        new(nameof(UploadJob.Sha256), typeof(string), JobViewSlot.Subject),
        new(nameof(UploadJob.Dialect), typeof(Platform.Datasets.CsvDialect), JobViewSlot.Subject),
        new(nameof(UploadJob.Format), typeof(string), JobViewSlot.Subject),
        new("Rejects", typeof(RejectsView), JobViewSlot.Outcome),
        new("RejectLimits", typeof(RejectLimitsView), JobViewSlot.Outcome),
    ];

    protected override void Show(UploadJob job, JobViewParts view)
    {
        view.Set(nameof(UploadJob.Bytes), job.Bytes);
        view.Set(nameof(UploadJob.Sha256), job.Sha256);
        view.Set(nameof(UploadJob.Dialect), job.Dialect);
        view.Set(nameof(UploadJob.Format), job.Format);
        // A Parquet file's position is a row of the file, not a byte of decompressed text (its pages are compressed one by
        // one): it has no uncompressed bytes to show, and its stoppedAfterLine is a row number, as its rejects' line is.
        var uncompressed = job.Format == UploadFormat.Parquet ? null : job.UncompressedBytesRead;
        view.Progress = new UploadProgressView(job.RowsLoaded, job.RowsRejected, job.BytesRead, job.Bytes, uncompressed);
        view.Set("RejectLimits", job.MaxRejectedRows is null && job.MaxRejectedRatio is null
            ? null
            : new RejectLimitsView(job.MaxRejectedRows, job.MaxRejectedRatio));
        if (view.Cancellation is { } cancellation)
        {
            view.Cancellation = cancellation with { StoppedAfterLine = job.StoppedAfterLine };
        }
    }

    protected override async Task ShowLinksAsync(UploadJob job, JobViewParts view, ObjectStore store)
    {
        if (job.RejectsKey is { } key)
        {
            var expiresAt = DateTimeOffset.UtcNow + store.PresignedUrlLifetime;
            var url = await store.PresignGetAsync(key, expiresAt, $"rejects-{job.CorrelationId}.csv");
            view.Set("Rejects", new RejectsView(job.RowsRejected, url, expiresAt));
        }
    }

    /// <summary>The presigned rejects link is renewed every half lifetime, so a poller's copy never holds a dead link.</summary>
    protected override string Tag(UploadJob job, TimeSpan linkLifetime) =>
        job.RejectsKey is null
            ? ""
            : "-" + (DateTimeOffset.UtcNow.UtcTicks / Math.Max(1, linkLifetime.Ticks / 2)).ToString(CultureInfo.InvariantCulture);
}

/// <summary>Reject limits a retry raised above the dataset's for this upload, if one did.</summary>
public sealed record RejectLimitsView(long? MaxRejectedRows, double? MaxRejectedRatio);

/// <param name="BytesRead">Bytes of the object read; for a compressed object, compressed bytes, so progress is against <paramref name="BytesTotal"/>.</param>
/// <param name="UncompressedBytesRead">A compressed CSV or JSON Lines object only: bytes of its decompressed text read.</param>
public sealed record UploadProgressView(long RowsLoaded, long RowsRejected, long BytesRead, long? BytesTotal,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] long? UncompressedBytesRead = null);

/// <summary>The rejected rows: how many, and a presigned link to the CSV that lists them.</summary>
public sealed record RejectsView(long Count, string Url, DateTimeOffset ExpiresAt);
