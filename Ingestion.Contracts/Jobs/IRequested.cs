namespace Ingestion.Contracts.Jobs;

/// <summary>A command someone asked for; the job's audit trail names them.</summary>
public interface IRequested
{
    /// <summary>Who asked: <c>tenant:acme/key:1a2b3c4d</c>, <c>ops/key:…</c>, <c>system</c>, or a service's own name.</summary>
    string RequestedBy { get; }
}
