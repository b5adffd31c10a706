//! TEMPORARY stand-in (replaced by the registry branch): the agent registry.
pub struct Agent {
    pub name: String,
    pub role: String,
}
pub struct Registry {
    agents: Vec<Agent>,
    pub max_review_iterations: u32,
}
impl Registry {
    pub fn from_agents(mut agents: Vec<Agent>, max_review_iterations: u32) -> Registry {
        agents.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
        Registry {
            agents,
            max_review_iterations,
        }
    }
    pub fn agents(&self) -> &[Agent] {
        &self.agents
    }
}
