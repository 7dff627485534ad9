//! `sandboxer-ext-vm-packer`: sandboxes as QEMU virtual machines, booted from
//! images built from the profile's recipe.

fn main() {
    sandboxer_ext_protocol::sdk::init_stderr_logging();
    sandboxer_ext_protocol::sdk::serve::<vm_packer::VmPacker>()
}
