namespace Ingestion.Contracts;

/// <summary>
/// Every message about a job names it. The job id is the saga's correlation id, so any
/// message can be routed to its job and any log line about it carries the id.
/// </summary>
public interface IJobMessage
{
    /// <summary>The job: the saga's correlation id, chosen by whoever submitted the job.</summary>
    Guid JobId { get; }
}
