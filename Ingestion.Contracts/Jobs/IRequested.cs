namespace Ingestion.Contracts.Jobs;

/// <summary>A command someone asked for; the job's audit trail names them.</summary>
public interface IRequested
{
    string RequestedBy { get; }
}
