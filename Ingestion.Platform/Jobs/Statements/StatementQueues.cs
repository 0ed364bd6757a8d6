namespace Ingestion.Platform.Messaging;

/// <summary>The queues of statements, declared with the kind (<see cref="Jobs.StatementJob.Descriptor"/>).</summary>
public static partial class Queues
{
    /// <summary>The statement state machine: <c>BuildStatement</c>, <c>RetryJob</c> and <c>CancelJob</c> for statements, and its events.</summary>
    public const string StatementJobs = "statement-jobs";

    /// <summary>Workers that render statements: <c>RenderStatement</c>.</summary>
    public const string RenderStatement = "render-statement";
}
