namespace Ingestion.Platform.Jobs;

/// <summary>A CSV object in S3 being loaded into one of a tenant's datasets.</summary>
public sealed class UploadJob : JobState
{
    public const string KindName = "upload";

    /// <summary>The states of the upload state machine, as stored in <c>current_state</c>.</summary>
    public static class States
    {
        public const string Uploaded = nameof(Uploaded);
        public const string Processing = nameof(Processing);
        public const string Completed = nameof(Completed);
        public const string Failed = nameof(Failed);
        public const string Cancelled = nameof(Cancelled);
    }

    public override string Kind => KindName;

    public string DatasetName { get; set; } = "";

    public override string? Dataset => DatasetName;

    public string Bucket { get; set; } = "";

    public string Key { get; set; } = "";

    /// <summary>Size of the object; known at intake, or once a worker looks when a job came from the bus.</summary>
    public long? Bytes { get; set; }

    /// <summary>SHA-256 of the uploaded bytes, hex; computed while they streamed in through the API.</summary>
    public string? Sha256 { get; set; }

    public long BytesRead { get; set; }

    public long RowsLoaded { get; set; }

    public long RowsRejected { get; set; }

    public string? RejectsKey { get; set; }

    /// <summary>Reject limits a retry raised above the dataset's (<see cref="RejectLimits"/>); null: the dataset's.</summary>
    public long? MaxRejectedRows { get; set; }

    /// <inheritdoc cref="MaxRejectedRows"/>
    public double? MaxRejectedRatio { get; set; }

    /// <summary>For a cancelled job: the last line loaded or rejected before it stopped.</summary>
    public long? StoppedAfterLine { get; set; }
}
