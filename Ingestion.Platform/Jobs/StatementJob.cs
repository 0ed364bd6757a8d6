namespace Ingestion.Platform.Jobs;

/// <summary>An account's statement for a period, rendered to PDF in S3.</summary>
public sealed class StatementJob : JobState
{
    public const string KindName = "statement";

    /// <summary>The states of the statement state machine, as stored in <c>current_state</c>.</summary>
    public static class States
    {
        public const string Requested = nameof(Requested);
        public const string Rendering = nameof(Rendering);
        public const string Ready = nameof(Ready);
        public const string Failed = nameof(Failed);
        public const string Cancelled = nameof(Cancelled);
    }

    public override string Kind => KindName;

    public override string? Dataset => "transactions";

    public long AccountId { get; set; }

    public DateOnly From { get; set; }

    public DateOnly To { get; set; }

    public long LinesTotal { get; set; }

    public long LinesRendered { get; set; }

    public int PagesTotal { get; set; }

    public int PagesRendered { get; set; }

    public int Volumes { get; set; }

    public string? DocumentKey { get; set; }

    public string? ContentType { get; set; }

    public long? DocumentBytes { get; set; }

    /// <summary>When the document is removed from S3 (retention); the job outlives it.</summary>
    public DateTimeOffset? ExpiresAt { get; set; }

    /// <summary>When retention deleted the document from S3, after <see cref="ExpiresAt"/>.</summary>
    public DateTimeOffset? DocumentDeletedAt { get; set; }
}
