//! Arm PrimeCell UART (PL011), per the PL011 Technical Reference Manual (DDI 0183).
//!
//! Transmit polls the TX FIFO. Receive is interrupt driven: the RX and receive-timeout
//! interrupts drain the FIFO into a ring buffer, so streamed input is not lost while the
//! shell is busy. The FIFOs are enabled (`LCR_H.FEN`): with them off, QEMU delivers a
//! quarter of the bytes per second.

use crate::mmio::Mmio;
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_bitfields;
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};

register_bitfields! {u32,
    DR [
        DATA OFFSET(0) NUMBITS(8) [],
        FE OFFSET(8) NUMBITS(1) [],
        PE OFFSET(9) NUMBITS(1) [],
        BE OFFSET(10) NUMBITS(1) [],
        OE OFFSET(11) NUMBITS(1) []
    ],
    FR [
        CTS OFFSET(0) NUMBITS(1) [],
        BUSY OFFSET(3) NUMBITS(1) [],
        RXFE OFFSET(4) NUMBITS(1) [],
        TXFF OFFSET(5) NUMBITS(1) [],
        RXFF OFFSET(6) NUMBITS(1) [],
        TXFE OFFSET(7) NUMBITS(1) []
    ],
    IBRD [ BAUD_DIVINT OFFSET(0) NUMBITS(16) [] ],
    FBRD [ BAUD_DIVFRAC OFFSET(0) NUMBITS(6) [] ],
    LCR_H [
        BRK OFFSET(0) NUMBITS(1) [],
        PEN OFFSET(1) NUMBITS(1) [],
        EPS OFFSET(2) NUMBITS(1) [],
        STP2 OFFSET(3) NUMBITS(1) [],
        FEN OFFSET(4) NUMBITS(1) [ FifosDisabled = 0, FifosEnabled = 1 ],
        WLEN OFFSET(5) NUMBITS(2) [ FiveBit = 0, SixBit = 1, SevenBit = 2, EightBit = 3 ],
        SPS OFFSET(7) NUMBITS(1) []
    ],
    CR [
        UARTEN OFFSET(0) NUMBITS(1) [],
        LBE OFFSET(7) NUMBITS(1) [],
        TXE OFFSET(8) NUMBITS(1) [],
        RXE OFFSET(9) NUMBITS(1) [],
        RTS OFFSET(11) NUMBITS(1) []
    ],
    IFLS [
        TXIFLSEL OFFSET(0) NUMBITS(3) [],
        RXIFLSEL OFFSET(3) NUMBITS(3) [ OneEighth = 0, OneQuarter = 1, OneHalf = 2 ]
    ],
    INT [
        RXIM OFFSET(4) NUMBITS(1) [],
        TXIM OFFSET(5) NUMBITS(1) [],
        RTIM OFFSET(6) NUMBITS(1) [],
        FEIM OFFSET(7) NUMBITS(1) [],
        PEIM OFFSET(8) NUMBITS(1) [],
        BEIM OFFSET(9) NUMBITS(1) [],
        OEIM OFFSET(10) NUMBITS(1) []
    ]
}

register_structs! {
    #[allow(non_snake_case)]
    pub Registers {
        (0x000 => DR: ReadWrite<u32, DR::Register>),
        (0x004 => RSR_ECR: ReadWrite<u32>),
        (0x008 => _reserved0),
        (0x018 => FR: ReadOnly<u32, FR::Register>),
        (0x01c => _reserved1),
        (0x020 => ILPR: ReadWrite<u32>),
        (0x024 => IBRD: ReadWrite<u32, IBRD::Register>),
        (0x028 => FBRD: ReadWrite<u32, FBRD::Register>),
        (0x02c => LCR_H: ReadWrite<u32, LCR_H::Register>),
        (0x030 => CR: ReadWrite<u32, CR::Register>),
        (0x034 => IFLS: ReadWrite<u32, IFLS::Register>),
        (0x038 => IMSC: ReadWrite<u32, INT::Register>),
        (0x03c => RIS: ReadOnly<u32, INT::Register>),
        (0x040 => MIS: ReadOnly<u32, INT::Register>),
        (0x044 => ICR: WriteOnly<u32, INT::Register>),
        (0x048 => DMACR: ReadWrite<u32>),
        (0x04c => @END),
    }
}

/// A PL011 UART.
pub struct Pl011 {
    regs: Mmio<Registers>,
}

impl Pl011 {
    /// # Safety
    /// `base` must be a mapped PL011, owned by the returned driver.
    pub const unsafe fn new(base: usize) -> Pl011 {
        Pl011 {
            // SAFETY: forwarded to the caller's contract.
            regs: unsafe { Mmio::new(base) },
        }
    }

    /// The register block's address.
    pub fn base(&self) -> usize {
        self.regs.base()
    }

    /// 8N1, FIFOs on, RX and RX-timeout interrupts enabled. QEMU ignores the baud rate;
    /// 115200 at a 24 MHz reference clock is programmed for real hardware.
    pub fn init(&self) {
        self.regs.CR.set(0);
        self.regs.ICR.set(0x7ff);
        self.regs.IBRD.write(IBRD::BAUD_DIVINT.val(13));
        self.regs.FBRD.write(FBRD::BAUD_DIVFRAC.val(1));
        self.regs
            .LCR_H
            .write(LCR_H::WLEN::EightBit + LCR_H::FEN::FifosEnabled);
        self.regs.IFLS.write(IFLS::RXIFLSEL::OneEighth);
        self.regs.IMSC.write(INT::RXIM::SET + INT::RTIM::SET);
        self.regs
            .CR
            .write(CR::UARTEN::SET + CR::TXE::SET + CR::RXE::SET);
    }

    /// Sends one byte, waiting for FIFO space.
    #[inline]
    pub fn put(&self, b: u8) {
        while self.regs.FR.is_set(FR::TXFF) {
            core::hint::spin_loop();
        }
        self.regs.DR.set(b as u32);
    }

    /// Takes one byte from the RX FIFO, if any.
    #[inline]
    pub fn get(&self) -> Option<u8> {
        if self.regs.FR.is_set(FR::RXFE) {
            None
        } else {
            Some(self.regs.DR.read(DR::DATA) as u8)
        }
    }

    /// Waits until everything written has left the transmitter.
    pub fn flush(&self) {
        while self.regs.FR.is_set(FR::BUSY) {
            core::hint::spin_loop();
        }
    }

    /// Unmasks (true) or masks the receive and receive-timeout interrupts.
    pub fn set_rx_interrupts(&self, on: bool) {
        if on {
            self.regs.IMSC.write(INT::RXIM::SET + INT::RTIM::SET);
        } else {
            self.regs.IMSC.set(0);
        }
    }

    /// Acknowledges the receive interrupts; call before draining the FIFO.
    pub fn ack_rx(&self) {
        self.regs
            .ICR
            .write(INT::RXIM::SET + INT::RTIM::SET + INT::OEIM::SET);
    }
}
