using Ingestion.Platform.Messaging;

namespace Ingestion.Platform.Jobs;

/// <summary>An uploaded file (CSV, JSON Lines or Parquet) in S3 being loaded into one of a tenant's datasets.</summary>
public sealed class UploadJob : JobState
{
    public const string KindName = "upload";

    /// <summary>The states of the upload state machine, as stored in <c>current_state</c>.</summary>
    public static class States
    {
        public const string Uploaded = nameof(Uploaded);
        public const string Processing = nameof(Processing);
        public const string Completed = nameof(Completed);
        public const string Failed = JobStates.Failed;
        public const string Cancelled = JobStates.Cancelled;
    }

    /// <summary>What the shared job layer knows of uploads (<see cref="JobKinds"/>).</summary>
    public static readonly JobKind<UploadJob> Descriptor = new(KindName)
    {
        JobsQueue = Queues.UploadJobs,
        WorkQueue = Queues.ProcessUpload,
        Queued = States.Uploaded,
        Running = States.Processing,
        Succeeded = States.Completed,
        Tables = ["upload_checkpoints", "upload_rejects", "upload_chunks", "upload_chunk_batches"],
        TablePrefixes = ["upload_stage_"],
        WebhookCounts = job => new Dictionary<string, long> { ["rowsLoaded"] = job.RowsLoaded, ["rowsRejected"] = job.RowsRejected },
        Objects = (job, store, _) => ValueTask.FromResult<IEnumerable<(string, string)>>(ObjectsOf(job, store.Bucket)),
    };

    public string DatasetName { get; set; } = "";

    public override string? Dataset => DatasetName;

    public string Bucket { get; set; } = "";

    public string Key { get; set; } = "";

    /// <summary>Size of the object; known at intake, or once a worker looks when a job came from the bus.</summary>
    public long? Bytes { get; set; }

    /// <summary>SHA-256 of the uploaded bytes, hex; computed while they streamed in through the API.</summary>
    public string? Sha256 { get; set; }

    /// <summary>Bytes of the object read: for a compressed object, compressed bytes, measured against <see cref="Bytes"/>.</summary>
    public long BytesRead { get; set; }

    /// <summary>A compressed object only: bytes of its decompressed text read so far; null for a plain object.</summary>
    public long? UncompressedBytesRead { get; set; }

    public long RowsLoaded { get; set; }

    public long RowsRejected { get; set; }

    public string? RejectsKey { get; set; }

    /// <summary>Reject limits a retry raised above the dataset's (<see cref="RejectLimits"/>); null: the dataset's.</summary>
    public long? MaxRejectedRows { get; set; }

    /// <inheritdoc cref="MaxRejectedRows"/>
    public double? MaxRejectedRatio { get; set; }

    /// <summary>
    /// The dialect the file is read with, when the upload overrode its dataset's (<see cref="UploadDialect"/>); null: the
    /// dataset's. Fixed at intake, so a resumed or retried load reads the file as the first attempt did.
    /// </summary>
    public Datasets.CsvDialect? Dialect { get; set; }

    /// <summary>
    /// The format the file is read in (<see cref="Datasets.UploadFormat"/>): the upload's declaration, else its dataset's,
    /// fixed at intake. Null for a job submitted on the bus, which reads its dataset's format.
    /// </summary>
    public string? Format { get; set; }

    /// <summary>For a cancelled job: the last line loaded or rejected before it stopped.</summary>
    public long? StoppedAfterLine { get; set; }

    /// <summary>Where a job's rejected rows are written, in the service's bucket.</summary>
    public static string RejectsKeyFor(string tenantId, Guid jobId) => $"rejects/{tenantId}/{jobId:N}.csv";

    /// <summary>
    /// The upload (kept by failed jobs) and the rejects file, also at its conventional key:
    /// a worker may have written it and died before the job recorded it.
    /// </summary>
    private static HashSet<(string Bucket, string Key)> ObjectsOf(UploadJob job, string bucket)
    {
        var keys = new HashSet<(string Bucket, string Key)> { (bucket, RejectsKeyFor(job.TenantId, job.CorrelationId)) };
        if (job.Key.Length > 0)
        {
            keys.Add((job.Bucket.Length > 0 ? job.Bucket : bucket, job.Key));
        }

        if (job.RejectsKey is { } rejects)
        {
            keys.Add((bucket, rejects));
        }

        return keys;
    }
}
